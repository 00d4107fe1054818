vitvizAtlas("cards_L0_attn.v",{"f":[7,96],"vis":["vis/blocks.0.attn.v_f0007.png","vis/blocks.0.attn.v_f0096.png"],"fail":["image",null],"clip":[null,null],"score":[null,[1.294,0.177,0.6]]});
